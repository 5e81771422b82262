"""Example workflows bundled with durable (``durable demo`` runs ``orders``)."""
