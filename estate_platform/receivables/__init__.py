"""Collections (回款), payable-when rules, developer invoices and statements (issue 12 §1-2)."""
