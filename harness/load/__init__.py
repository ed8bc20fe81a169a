"""Load for the query service: locust users (``locustfile.py``, loaded by locust only) and a runner.

This package never imports locust itself (it would monkey-patch the process with gevent).
"""

from harness.load.runner import LOCUSTFILE, EndpointStats, LoadRunError, LoadStats, run_load

__all__ = ["LOCUSTFILE", "EndpointStats", "LoadRunError", "LoadStats", "run_load"]
