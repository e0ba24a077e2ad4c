"""
### TaskFlow API tutorial

Return values travel between tasks as XComs; `multiple_outputs` splits a dict.
"""

import json
from datetime import datetime

from airflow.sdk import dag, get_current_context, task


@dag(schedule=None, start_date=datetime(2021, 1, 1), catchup=False, tags=["example"])
def tutorial_taskflow_api():
    """
    ### TaskFlow API Tutorial Documentation
    A simple data pipeline: extract, transform, load.
    """

    @task()
    def extract():
        data_string = '{"1001": 301.27, "1002": 433.21, "1003": 502.22}'
        return json.loads(data_string)

    @task(multiple_outputs=True)
    def transform(order_data_dict: dict):
        total_order_value = 0
        for value in order_data_dict.values():
            total_order_value += value
        return {"total_order_value": round(total_order_value, 2), "orders": len(order_data_dict)}

    @task()
    def load(total_order_value: float, orders: int):
        context = get_current_context()
        return f"{context['ds']}: {orders} orders worth {total_order_value:.2f}"

    order_data = extract()
    order_summary = transform(order_data)
    load(order_summary["total_order_value"], order_summary["orders"])


tutorial_taskflow_api()
