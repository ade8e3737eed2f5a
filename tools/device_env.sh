# Sourced by the scripts that run on a GPU machine (tools/device_check.sh,
# tools/train_tracker_on_device.sh), with $carry the carried folder and $binary optional:
# $bin is the earworm to run (the carried cuda binary unpacked, or $binary), $cu13 the folder of
# the CUDA libraries found there, and LD_LIBRARY_PATH finds them and the carried ALSA library.
bin=/tmp/earworm
if [ -n "${binary:-}" ]; then bin=$binary; else xz -dc "$carry/earworm-cuda.xz" > "$bin" && chmod +x "$bin"; fi
cu13=$(python3 -c 'import nvidia, os; print(next(os.path.join(p, "cu13", "lib") for p in nvidia.__path__ if os.path.isdir(os.path.join(p, "cu13", "lib"))))' 2>/dev/null ||
  dirname "$(find /opt /usr -name 'libcublas.so.13*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH=$PWD/$carry/lib:$cu13:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
