def browser_url(prefix, port, path):
    """The address a learner's browser opens to reach `path` on the kernel's `port`."""
    return f"{prefix}proxy/{port}{path}"
