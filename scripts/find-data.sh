# Finds MNIST for the scripts that need it (quickstart.sh, test.sh); sourced
# from the project root, in bash:
#   source scripts/find-data.sh && tinycnn_find_mnist || exit 1
# tinycnn_find_mnist exports TINYCNN_DATA as an absolute path: $TINYCNN_DATA
# when set (it must hold MNIST), else data/mnist, else ../shared/data/mnist
# (a copy beside the project), each when it holds train-images-idx3-ubyte
# (or .gz); otherwise it downloads MNIST into data/mnist with
# scripts/download-mnist.sh, which checks every file's MD5. Returns non-zero,
# saying why on stderr, when none is found and the download fails.

# Does folder $1 hold the MNIST training images (plain or gzipped)?
tinycnn_has_mnist() {
    [[ -f $1/train-images-idx3-ubyte || -f $1/train-images-idx3-ubyte.gz ]]
}

tinycnn_find_mnist() {
    local dir
    if [[ -n ${TINYCNN_DATA:-} ]]; then
        if ! tinycnn_has_mnist "$TINYCNN_DATA"; then
            echo "TINYCNN_DATA=$TINYCNN_DATA holds no MNIST (train-images-idx3-ubyte or .gz)" >&2
            return 1
        fi
        dir=$TINYCNN_DATA
    elif tinycnn_has_mnist data/mnist; then
        dir=data/mnist
    elif tinycnn_has_mnist ../shared/data/mnist; then
        dir=../shared/data/mnist
    else
        echo "MNIST is not in data/mnist or ../shared/data/mnist: downloading it" >&2
        scripts/download-mnist.sh data/mnist || return 1
        dir=data/mnist
    fi
    TINYCNN_DATA=$(cd "$dir" && pwd) || return 1
    export TINYCNN_DATA
}
