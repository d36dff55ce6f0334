"""The analyst's side: a client that trusts only the CA and the nodes' signatures, never the
coordinator it talks through; the linked-count verification, the regional monitor and its site,
and the `regiozicht` commands analysts run (query, catalog, status, profile, monitor)."""
