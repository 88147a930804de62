"""deeprnn.data"""
