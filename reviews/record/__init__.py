"""A review in the shared record: as it stood at any moment, what changed since, and the
audit pack that carries both out of the portal.

- ``asof``: ``review_as_of`` rebuilds a review from the history tables (and
  ``review_now`` builds the same shape from the live tables)
- ``since``: ``changes_since`` compares a moment with now, for the highlights
- ``pack``: the audit pack (a ZIP with a manifest of SHA-256 hashes) and its offline check
- ``forms``, ``views``: the as-of page and the pack download
"""
