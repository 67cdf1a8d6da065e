"""AWS checks: SNS delivery-status logging and alarms on dead-letter queues."""

from __future__ import annotations
