"""Launch audits (in-person audits of a review, with their decisions) and the journal
(attributed notes on a service or a review): services for writes, selectors for reads,
forms and views."""
