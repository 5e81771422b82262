"""The inspector: server-rendered pages to see, answer and travel through runs."""
