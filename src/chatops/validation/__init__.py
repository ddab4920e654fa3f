"""``chatops validate``: check intent files one by one, then against each other."""
