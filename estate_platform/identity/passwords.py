"""The staff password policy (密码规则): one pure rule, used by the command line, the
admin JSON API and the admin pages for every password a person sets.

At least 12 characters (length beats symbol rules), at most 128 (hashing has a cost),
not a well-known password, not built from the username. The demo loader's fixed
passwords predate the policy and are set without it (estate_platform/demo.py).
"""
from __future__ import annotations

import re

from ..errors import ValidationFailed

MIN_LENGTH = 12
MAX_LENGTH = 128

# Passwords that lead every leaked-password list (and the Chinese ones: 5201314 "我爱你一生一世",
# woaini "我爱你", pinyin names of keyboards), long enough to pass the length rule.
COMMON_PASSWORDS = frozenset("""
123456789012 1234567890123 12345678901234 123456123456 111111111111 000000000000 888888888888
666666666666 123123123123 121212121212 147258369147 123qweasdzxc 1qaz2wsx3edc 1q2w3e4r5t6y
qwertyuiop12 qwertyuiop123 qwerty123456 qwertyuiopas asdfghjkl123 zxcvbnm12345 q1w2e3r4t5y6
password1234 password123456 passw0rd1234 p@ssw0rd1234 p@ssword1234 iloveyou1234 iloveyou123456
woaini1314520 woaini520520 5201314520 52013145201314 1314520520 woaini123456 wo123456789
admin1234567 admin123456789 administrator letmein12345 welcome12345 welcome123456 changeme1234
abc123456789 abcd12345678 aa123456789 a123456789012 1234567890ab 1234567890abc sunshine1234
football1234 baseball1234 princess1234 dragon123456 monkey123456 starwars1234 whatever1234
trustno11234 superman1234 qazwsxedcrfv zaq12wsxcde3 !qaz2wsx#edc 1qazxsw23edc
""".split())

# Words that, with only digits and punctuation around them, are as weak as the list above.
COMMON_WORDS = frozenset("""
password passw0rd p@ssw0rd p@ssword admin administrator root qwerty qwertyuiop asdfghjkl zxcvbnm
iloveyou woaini letmein welcome changeme abc abcd abcdef monkey dragon sunshine princess
football baseball superman starwars whatever trustno qazwsx qazwsxedc
""".split())

_DECORATION = re.compile(r"[\d\W_]+")


def password_problems(password: str, username: str | None = None) -> list[str]:
    """What is wrong with ``password`` (Chinese, for people); empty when it may be used."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"密码至少 {MIN_LENGTH} 个字符")
    elif len(password) > MAX_LENGTH:
        problems.append(f"密码最多 {MAX_LENGTH} 个字符")
    folded = password.casefold()
    core = _DECORATION.sub("", folded)
    if folded in COMMON_PASSWORDS or core in COMMON_WORDS or len(set(folded)) <= 2:
        problems.append("密码过于常见或过于简单，请换一个不易猜到的密码")
    name = (username or "").strip().casefold()
    if name and len(name) >= 3 and name in folded:
        problems.append("密码不能包含用户名")
    return problems


class WeakPassword(ValidationFailed):
    code, message = "weak_password", "密码不符合安全要求"


def require_strong_password(password: str, username: str | None = None, *, field: str = "password") -> None:
    problems = password_problems(password, username)
    if problems:
        raise WeakPassword({field: problems})
