"""The embedded local stack: certificates, secrets, configs and process supervision.

`sentinel up` and the test harness both drive `Stack`, so the tests boot exactly what users run.
"""

from sentinel.stack.component import StackError
from sentinel.stack.launcher import Stack

__all__ = ["Stack", "StackError"]
