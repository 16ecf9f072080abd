"""Reusable test helpers: real servers on loopback (see :mod:`tests.support.servers`)."""

from .servers import Fault, HTTPFileServer, S3Server, free_port

__all__ = ["Fault", "HTTPFileServer", "S3Server", "free_port"]
