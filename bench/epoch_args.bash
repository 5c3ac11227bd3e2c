# Sourced by the epoch benches (train_epoch.sh, dist_epoch.sh): the args.yaml of the run they time.
# epoch_args_yaml FILE DATA IMGSZ: yolov8n.yaml on DATA, 30 epochs, batch 16, IMGSZ px, seed 0.
epoch_args_yaml() {
    printf 'task: detect\nmodel: yolov8n.yaml\ndata: %s\nepochs: 30\nbatch: 16\nimgsz: %s\nseed: 0\n' "$2" "$3" >"$1"
}
