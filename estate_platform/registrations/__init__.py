"""Client registration (报备): first valid registration wins (DESIGN §2)."""
