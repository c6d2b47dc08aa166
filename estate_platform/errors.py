"""Domain errors: one class per business refusal (STYLE §6).

Each carries a stable ``code`` that clients can switch on, the HTTP status the
web layers use, and a Chinese message for people. The web layers turn them into
``{"error": {"code", "message", "details"}}``.
"""
from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    status = 400
    message = "请求无法处理"
    #: Keep the unit of work's changes although the request is refused
    #: (a failed login or SMS attempt must still be counted).
    keep_changes = False

    def __init__(self, message: str | None = None, *, details: dict | None = None,
                 retry_after: int | None = None):
        self.message = message or type(self).message
        self.details = details or {}
        self.retry_after = retry_after
        if retry_after is not None:
            self.details.setdefault("retry_after_seconds", retry_after)
        super().__init__(self.message)


class ValidationFailed(DomainError):
    """Business validation over several fields, reported all at once."""
    code, status, message = "validation_error", 422, "提交的数据有误，请检查后重试"

    def __init__(self, fields: dict[str, list[str]], message: str | None = None):
        super().__init__(message, details={"fields": fields})


class NotFound(DomainError):
    code, status, message = "not_found", 404, "请求的资源不存在"


class Conflict(DomainError):
    code, status, message = "conflict", 409, "操作与当前状态冲突"


class Forbidden(DomainError):
    code, status, message = "forbidden", 403, "无权执行此操作"


class Unauthorized(DomainError):
    code, status, message = "unauthorized", 401, "请先登录"


class TooManyRequests(DomainError):
    code, status, message = "too_many_requests", 429, "操作过于频繁，请稍后再试"


class UpstreamUnavailable(DomainError):
    code, status, message = "upstream_unavailable", 502, "外部服务暂时不可用，请稍后重试"


class ImmutableRecord(Conflict):
    code, message = "immutable_record", "该记录不可修改或删除"


# --- database refusals mapped to domain errors (STYLE §6) ----------------------
# The database gives the guarantee; these give the caller the same clear refusal
# a Python check would. Keys are constraint names (PostgreSQL) and the
# "table.column" text SQLite reports for unique violations.

_CONSTRAINT_ERRORS: dict[str, type[DomainError]] = {}


def on_constraint(*names: str):
    """Class decorator: raise this error when one of ``names`` is violated."""
    def register(cls):
        for name in names:
            _CONSTRAINT_ERRORS[name] = cls
        return cls
    return register


def error_for_integrity(exc: Exception) -> DomainError:
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None) if diag is not None else None
    text = str(orig)
    if "immutable" in text:
        return ImmutableRecord()
    if name and name in _CONSTRAINT_ERRORS:
        return _CONSTRAINT_ERRORS[name]()
    for key, cls in _CONSTRAINT_ERRORS.items():
        if key in text:
            return cls()
    return Conflict("数据与已有记录冲突，请刷新后重试")
