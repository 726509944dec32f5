"`python -m llava_nb.train` (and `accelerate launch -m llava_nb.train`): the training command (lesson 03e_train_cli)."

from llava_nb.train.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
