import httpx

from course import tls_context


def make_client():
    return httpx.Client(http2=True, verify=tls_context())
