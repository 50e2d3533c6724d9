import subprocess

def stop_process(process, grace=5.0):
    """Ask politely (SIGTERM), wait up to `grace` seconds, then force it (SIGKILL); return the exit code."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
    return process.wait()
