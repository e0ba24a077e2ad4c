from slipstream.plugins import ExecutorSpec, OperatorSpec, hookimpl


def _make(context):
    raise AssertionError("never built in these tests")


@hookimpl
def slipstream_executors():
    yield ExecutorSpec(name="fake", factory=_make, description="test executor")


@hookimpl
def slipstream_operators():
    yield OperatorSpec(name="fake_op", import_path="slipstream_fake.good:FakeOperator")


@hookimpl
def on_dag_run_success(dag_run, msg):
    pass
