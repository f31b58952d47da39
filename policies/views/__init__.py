"""Admin UI for the outbound delivery policies: the list, the editor and the tester."""
