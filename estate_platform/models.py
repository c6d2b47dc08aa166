"""Every model, imported once so the metadata is complete (alembic, tests)."""
from .buyback.models import (BuybackDeveloperTerms, BuybackLine, BuybackPackage, BuybackQuote,  # noqa: F401
                             BuybackQuoteLine, BuybackRequest, BuybackSettings)
from .commissions.models import CommissionLine, CommissionRule, CommissionTier, SplitPolicyVersion  # noqa: F401
from .consultants.models import Consultant, ConsultantInvite, ConsultantStatusEvent  # noqa: F401
from .contracts.models import AgreementSignature, AgreementVersion  # noqa: F401
from .credit.models import CreditEvent  # noqa: F401
from .crm.models import ClientCard, ClientTag, FollowUpNote  # noqa: F401
from .db import Base, db  # noqa: F401
from .deals.models import Deal, DealChangeRequest  # noqa: F401
from .disputes.models import (Dispute, DisputeAttachment, DisputeDecision, DisputeEvent,  # noqa: F401
                              DisputeStatement)
from .evidence.models import EvidenceRecord  # noqa: F401
from .exports.models import ExportJob, PhoneExportReveal  # noqa: F401
from .handoffs.models import Handoff, HandoffOffer  # noqa: F401
from .identity.models import Buyer, LoginAttempt, SmsCode, StaffUser, WechatUser  # noqa: F401
from .invites.models import Attribution, InviteLink, LinkOpen  # noqa: F401
from .ledger.models import Account, LedgerTransaction, Posting  # noqa: F401
from .notifications.models import Notification  # noqa: F401
from .privacy.models import PrivacyEvent, PrivacyRequest, RegistrationObjection  # noqa: F401
from .projects.models import Developer, ExistingCustomer, Project, ProjectPenaltyTerms  # noqa: F401
from .receivables.models import (Collection, CollectionAllocation, CommissionRelease,  # noqa: F401
                                  CommissionReleaseLine, DeveloperContract, DeveloperInvoice,
                                  DeveloperStatementResponse, StripeEvent)
from .reconciliation.models import DeveloperColumnMapping, SalesListRow, SalesListUpload  # noqa: F401
from .referrals.models import BuyerReferralCode, ReferralEdge  # noqa: F401
from .registrations.models import PhoneReveal, Registration  # noqa: F401
from .risk.models import RegistrationAttempt, RiskFlag  # noqa: F401
from .revisits.models import Revisit, RevisitCall, RevisitOptOut  # noqa: F401
from .settlement.models import (ConsultantInvoice, PayoutAccount, SensitiveRead, SettlementBatch,  # noqa: F401
                                SettlementItem)
from .visits.models import Visit, VisitAttachment  # noqa: F401

metadata = Base.metadata
