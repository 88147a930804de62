"""deeprnn.reports"""
