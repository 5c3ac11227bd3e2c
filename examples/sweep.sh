#!/bin/sh
# A learning-rate x mosaic sweep, two runs at a time, one run folder per setting under runs/sweep/.
# Run it again after an interruption: finished runs are skipped, unfinished ones resume.
exec yolo-sweep -j 2 detect data=data.yaml model=yolov8n.yaml epochs=30 imgsz=320 workers=1 \
    -- lr0=0.01,0.003,0.001 mosaic=1.0,0.0
