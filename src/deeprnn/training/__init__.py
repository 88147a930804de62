"""deeprnn.training"""
