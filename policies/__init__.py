"""Content policies: ordered IF / EXCEPT IF / THEN delivery policies and their engine."""
