"""The movement as data (forms, org units, standards) and the small code that evaluates it."""
