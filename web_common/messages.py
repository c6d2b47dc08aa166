"""Chinese validation messages for marshmallow fields and validators.

marshmallow keeps its default messages on the classes; they are replaced here
once, so every schema of both APIs reports field errors in Chinese.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

_FIELD_MESSAGES = {
    fields.Field: {"required": "必填字段", "null": "不能为空", "validator_failed": "取值无效"},
    fields.String: {"invalid": "必须是字符串", "invalid_utf8": "不是有效的 UTF-8 字符串"},
    fields.Integer: {"invalid": "必须是整数", "too_large": "数值过大"},
    fields.Number: {"invalid": "必须是数字", "too_large": "数值过大"},
    fields.Boolean: {"invalid": "必须是布尔值"},
    fields.DateTime: {"invalid": "不是有效的时间（ISO 8601）", "invalid_awareness": "时间须带时区",
                      "format": "时间格式无效"},
    fields.Date: {"invalid": "不是有效的日期（YYYY-MM-DD）", "format": "日期格式无效"},
    fields.Email: {"invalid": "不是有效的邮箱地址"},
    fields.List: {"invalid": "必须是列表"},
    fields.Dict: {"invalid": "必须是对象"},
    fields.Nested: {"type": "必须是对象"},
}

_VALIDATOR_MESSAGES = {
    validate.Length: {"message_min": "长度不能少于 {min}", "message_max": "长度不能超过 {max}",
                      "message_all": "长度须在 {min} 到 {max} 之间", "message_equal": "长度须为 {equal}"},
    # Range interpolates the operator first, then the bound: keep the doubled braces.
    validate.Range: {"message_min": "须{min_op} {{min}}", "message_max": "须{max_op} {{max}}",
                     "message_all": "须{min_op} {{min}} 且{max_op} {{max}}",
                     "message_gte": "大于或等于", "message_gt": "大于",
                     "message_lte": "小于或等于", "message_lt": "小于"},
    validate.OneOf: {"default_message": "须为以下之一：{choices}"},
    validate.Regexp: {"default_message": "格式不正确"},
    validate.Email: {"default_message": "不是有效的邮箱地址"},
    validate.URL: {"default_message": "不是有效的网址"},
}

_installed = False


def install_chinese_messages() -> None:
    global _installed
    if _installed:
        return
    for cls, messages in _FIELD_MESSAGES.items():
        merged = dict(getattr(cls, "default_error_messages", {}))
        merged.update(messages)
        cls.default_error_messages = merged
    for cls, messages in _VALIDATOR_MESSAGES.items():
        for attr, text in messages.items():
            if hasattr(cls, attr):
                setattr(cls, attr, text)
    Schema._default_error_messages = {"type": "请求体必须是 JSON 对象", "unknown": "未知字段"}
    _installed = True
