"""Every model, imported once so the metadata is complete (alembic, tests)."""
from .consultants.models import Consultant, ConsultantInvite, ConsultantStatusEvent  # noqa: F401
from .contracts.models import AgreementSignature, AgreementVersion  # noqa: F401
from .db import Base, db  # noqa: F401
from .identity.models import Buyer, LoginAttempt, SmsCode, StaffUser, WechatUser  # noqa: F401
from .projects.models import Developer, Project  # noqa: F401

metadata = Base.metadata
