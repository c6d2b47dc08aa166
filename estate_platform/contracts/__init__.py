"""The platform agreement (合同): versioned text, immutable signatures (DESIGN §2)."""
