"""Collectors: check types that read a service's systems and say what they found.

They never touch the database: a check gets a ``Target`` (what it reads about a service)
and returns an ``Outcome``. Adding a family means adding one module beside these, in the
same shape, listed in ``base.FAMILIES``, and its tests.
"""
