"""Reference ROC-AUC for arena/tests/reference.rs: scikit-learn's roc_auc_score.

Usage: auc_reference.py CASES. Each line of CASES is `labels;scores`, both comma-separated
(labels 0/1). Prints one AUC per line with repr() (shortest round-trip form).
"""
import sys

from sklearn.metrics import roc_auc_score


def main(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            labels, scores = line.split(";")
            y = [int(v) for v in labels.split(",")]
            s = [float(v) for v in scores.split(",")]
            print(repr(float(roc_auc_score(y, s))))


if __name__ == "__main__":
    main(sys.argv[1])
