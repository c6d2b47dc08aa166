"""Commission rules (佣金规则), split policies and the split of a deal's commission (DESIGN §2, §3)."""
