"""`idsync serve` beyond the HTTP routes: the instance's identity, its share of every IdP
budget when several instances run on one store, and the background loops that keep them."""
