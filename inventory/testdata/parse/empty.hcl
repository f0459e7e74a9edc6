# No hosts at all.
