"""Buy-back refusals, one per rule, with stable codes and Chinese messages (issue 13 §1)."""
from __future__ import annotations

from ..errors import Conflict, DomainError, Forbidden, NotFound


class LineNotFound(NotFound):
    code, message = "buyback_line_not_found", "佣金明细不存在或不属于您"


class DealNotLive(Conflict):
    code, message = "buyback_deal_not_live", "该佣金所属成交尚未网签、已退房或佣金未确认，不能申请垫付"


class LineNotPending(Conflict):
    code, message = "buyback_line_not_pending", "该笔佣金开发商已开始回款，不能再申请垫付"


class LineTaken(Conflict):
    code, message = "buyback_line_taken", "该笔佣金已在垫付申请中或已被平台购买"


class ConsultantNotOperating(Forbidden):
    code, message = "buyback_consultant_not_operating", "您的账号当前不在正常合作状态（未审核通过、已暂停或未签署最新协议），不能申请垫付"


class OpenDispute(Conflict):
    code, message = "buyback_open_dispute", "该成交或您本人有未结争议，争议结束前不能申请垫付"


class CreditTooLow(Forbidden):
    code, message = "buyback_credit_too_low", "您的信用分低于垫付要求"


class DeveloperLimit(Conflict):
    code, message = "buyback_developer_limit", "该开发商的垫付额度已用完，请稍后再试或减少申请笔数"


class ConsultantLimit(Conflict):
    code, message = "buyback_consultant_limit", "您的垫付额度不足，请减少申请笔数"


class BookLimit(Conflict):
    code, message = "buyback_book_limit", "平台垫付总额度已用完，请稍后再试"


class QuoteNotFound(NotFound):
    code, message = "buyback_quote_not_found", "报价不存在"


class QuoteExpired(Conflict):
    code, message = "buyback_quote_expired", "报价已过期，请重新获取报价"


class QuoteUsed(Conflict):
    code, message = "buyback_quote_used", "该报价已提交过申请"


class RequestNotFound(NotFound):
    code, message = "buyback_request_not_found", "垫付申请不存在"


class RequestClosed(Conflict):
    code, message = "buyback_request_closed", "该申请已处理、已取消或已过期"


class SameApprover(Conflict):
    code, message = "buyback_same_approver", "大额垫付须由另一位财务人员复核，不能由初审人本人复核"


class PackageNotFound(NotFound):
    code, message = "buyback_package_not_found", "回款包不存在"


class NothingToPackage(Conflict):
    code, message = "buyback_nothing_to_package", "该开发商没有未打包的已购应收"


class PackageNotOpen(Conflict):
    code, message = "buyback_package_not_open", "回款包已发送，不能重复发送"


REFUSALS: tuple[type[DomainError], ...] = (LineNotFound, DealNotLive, LineNotPending, LineTaken, ConsultantNotOperating,
                                           OpenDispute, CreditTooLow, DeveloperLimit, ConsultantLimit, BookLimit)
