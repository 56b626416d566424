"""Everything app.py imports: settings, web plumbing, auth, the tasks domain and its storage."""
