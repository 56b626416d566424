"""Anchor: the bare Chalice app every figure is compared with (one route, no AWS client)."""

from chalice import Chalice

app = Chalice(app_name="bench-hello")


@app.route("/")
def index():
    return {"hello": "world"}
