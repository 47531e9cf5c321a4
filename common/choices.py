"""The names a run's fields may take, without the code that builds them (``common/models.py`` does):
the run definitions (``common/study.py``, ``common/recurrent.py``) and the report read them without
loading a deep-learning framework."""

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
INITS = ("normal", "glorot_uniform", "he_normal")
OPTIMIZERS = ("adam", "momentum", "sgd", "adagrad", "rmsprop", "adamw", "nesterov")
SCHEDULES = ("constant", "cosine", "triangle")
AUGMENTATIONS = ("none", "flip_shift", "flip_shift4", "flip_shift4_erase", "altflip_shift")
ARCHS = ("lenet5", "vgg", "vgg_wide", "airbench", "airbench_small")  # common.models.ARCHITECTURES builds each
CELLS = ("rnn", "lstm", "gru")  # Task 3's recurrent cells (common.models.build_rnn)
SEARCH_SPACES = ("study", "all")  # the search's spaces (common/search.py): the study's knobs, or with the ladder's
DECONVNET_LAYERS = ("conv1", "conv2")  # the layers the deconvnet projects from (common/deconvnet.py)
