"""``cebra.integrations``: only the DeepLabCut loader maps onto brainbridge."""
