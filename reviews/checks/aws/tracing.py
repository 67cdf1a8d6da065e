"""AWS checks: X-Ray tracing on API Gateway stages and Lambda functions."""

from __future__ import annotations
