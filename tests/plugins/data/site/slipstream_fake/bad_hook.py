from slipstream.plugins import hookimpl


@hookimpl
def slipstream_executors():
    raise RuntimeError("hook exploded")
