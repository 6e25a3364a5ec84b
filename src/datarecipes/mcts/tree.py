"""The search tree of ThinkLite's MCTS: nodes, UCT selection and backpropagation.

A node is the list of reasoning steps written so far; an edge is one generated step. The
statistics are the reference's (ThinkLite-VL ``mcts.py``): visit count and summed reward,
selection by UCT ``Q + c·sqrt(ln N_parent / n_child)`` with unvisited children first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from datarecipes.mcts.prompts import is_terminal


@dataclass(eq=False)
class Node:
    """A partial solution: ``steps`` so far, with the statistics of the searches through it."""

    steps: tuple[str, ...]
    terminal: bool
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0

    @property
    def value(self) -> float:
        """Mean reward of the rollouts through this node (Q); 0 before any visit."""
        return self.value_sum / self.visits if self.visits else 0.0

    def add_child(self, step: str, max_steps: int) -> Node:
        """Append the node reached by writing ``step`` after this one."""
        steps = (*self.steps, step)
        child = Node(steps, is_terminal(steps, max_steps), parent=self)
        self.children.append(child)
        return child


def uct_score(child: Node, parent_visits: int, exploration: float) -> float:
    """UCT of ``child``: infinite while unvisited, so every child is tried once first."""
    if child.visits == 0:
        return math.inf
    return child.value + exploration * math.sqrt(math.log(parent_visits) / child.visits)


def select_child(node: Node, exploration: float) -> Node:
    """The child with the highest UCT; ties go to the earliest child (stable, reproducible)."""
    best, best_score = node.children[0], -math.inf
    for child in node.children:
        score = uct_score(child, node.visits, exploration)
        if score > best_score:
            best, best_score = child, score
    return best


def select_leaf(root: Node, exploration: float) -> Node:
    """Descend by UCT from ``root`` until a terminal node or one not yet expanded."""
    node = root
    while not node.terminal and node.children:
        node = select_child(node, exploration)
    return node


def backpropagate(node: Node, reward: float) -> None:
    """Add one visit and ``reward`` to ``node`` and every ancestor up to the root."""
    current: Node | None = node
    while current is not None:
        current.visits += 1
        current.value_sum += reward
        current = current.parent
