"""The AutoML Studio command-line client (``studio``) and its Python API: ``MLClient``, ``Input``,
``Output`` and the ``dsl.pipeline`` decorator in the shape of the Azure ML SDK v2 (see ``dsl``)."""
from studio_client import dsl
from studio_client.client import MLClient
from studio_client.dsl import Input, Output

__all__ = ["Input", "MLClient", "Output", "dsl"]
