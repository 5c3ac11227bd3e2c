"""`from ultralytics import YOLO` as in Ultralytics' guides, served by the yolo-tools shim.

Put the python/ folder of yolo-tools on PYTHONPATH (it holds ultralytics_shim.py beside this package).
"""
from ultralytics_shim import YOLO  # noqa: F401
