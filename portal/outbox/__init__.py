"""Background tasks that are never lost to a broker outage.

``enqueue(task, *args, **kwargs)`` writes the task into the outbox table in the current
transaction, so it exists exactly when the change that asked for it does. Once the
transaction commits, the task is sent to the broker at once and its row removed; if the
broker cannot take it then (Redis is down), the row stays and the relay
(``portal.outbox.relay``) sends it later: beat runs the relay every
``OUTBOX_RELAY_SECONDS``, and ``manage.py relay_outbox`` runs it by hand.

A row is sent by whoever holds its lock (``SELECT … FOR UPDATE SKIP LOCKED``), so the
immediate send and the relay never both send it. Delivery is at least once: a process
that dies after the broker took a task but before its row was removed leaves the row for
the relay to send again, so tasks sent this way must tolerate running twice.

In the embedded mode (no broker; ``CELERY_TASK_ALWAYS_EAGER``) the task runs in-process
once the transaction commits, as before.
"""
