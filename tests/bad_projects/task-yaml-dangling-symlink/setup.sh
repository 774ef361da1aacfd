rm tests/b/task.yaml
ln -s missing.yaml tests/b/task.yaml
