"""The embedded local stack: certificates, secrets, configs and process supervision.

`sentinel up` and the test harness both drive `sentinel.stack.launcher.Stack`, so the tests
boot exactly what users run.
"""
