"""deeprnn.experiments"""
